FROM busybox
HEALTHCHECK --interval=abc CMD x
