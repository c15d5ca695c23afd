"""The write path of searchchat: crawl, parse, chunk, embed and store documents."""
