FROM busybox
HEALTHCHECK none
