FROM busybox
HEALTHCHECK --interval=0s CMD x
