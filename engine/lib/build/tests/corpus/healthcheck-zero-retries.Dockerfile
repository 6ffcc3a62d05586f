FROM busybox
HEALTHCHECK --retries=0 CMD x
