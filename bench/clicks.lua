-- wrk script: POST clicks near the page's blob centres to $ROUTE, for page $PAGE, or with
-- $PAGES set, for a page drawn at random from "0" to "$PAGES - 1".
-- $CENTERS is "x:y,x:y,...", the centres of the blobs the pages were loaded with, and $SIGMA
-- the spread of the clicks around them. With $KEYED set, each request has an Idempotency-Key
-- of its own.
local page = os.getenv("PAGE")
local pages = tonumber(os.getenv("PAGES"))
local route = os.getenv("ROUTE")
local centers = {}
for x, y in string.gmatch(os.getenv("CENTERS"), "([%d.]+):([%d.]+)") do
  centers[#centers + 1] = { tonumber(x), tonumber(y) }
end
local sigma = tonumber(os.getenv("SIGMA"))
local keyed = os.getenv("KEYED") ~= ""
local sent = 0

local function gauss()
  return math.sqrt(-2 * math.log(1 - math.random())) * math.cos(2 * math.pi * math.random())
end

local function page_uuid()
  if pages then
    return tostring(math.random(0, pages - 1))
  end
  return page
end

local function clamp(value)
  return math.min(1, math.max(0, value))
end

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end

function init(args)
  started = os.time()  -- with the thread's id and a count, a key no other request of any run has
  math.randomseed(started + id + math.floor(os.clock() * 1000000))
end

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

function request()
  local center = centers[math.random(#centers)]
  local body = string.format(
    '{"page_uuid":"%s","coordinates":{"x":%.6f,"y":%.6f}}',
    page_uuid(), clamp(center[1] + sigma * gauss()), clamp(center[2] + sigma * gauss())
  )
  if keyed then
    sent = sent + 1
    wrk.headers["Idempotency-Key"] = string.format("%d-%d-%d", started, id, sent)
  end
  return wrk.format(nil, route, nil, body)
end
