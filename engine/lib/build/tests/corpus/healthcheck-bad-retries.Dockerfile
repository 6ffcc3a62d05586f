FROM busybox
HEALTHCHECK --retries=x CMD x
