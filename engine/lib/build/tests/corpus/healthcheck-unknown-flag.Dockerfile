FROM busybox
HEALTHCHECK --foo=1 CMD x
