FROM busybox
HEALTHCHECK --timeout=-1s CMD x
