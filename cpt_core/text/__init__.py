"""Web text: reading crawls, extracting main text, filtering it and cutting it into passages."""
