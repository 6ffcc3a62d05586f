FROM busybox
HEALTHCHECK --interval=1 CMD x
