"""Reading and writing a non-blocking socket directly, under trio: the server's
client connections and the upstream transport share these (reader.py,
writer.py). They raise what the socket raises (OSError); each caller maps
that to its own layer's errors."""
