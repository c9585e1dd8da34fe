"""clickclust: online clustering of the clicks users make on web pages."""
