FROM busybox
VOLUME ["/a", "/b c"]
