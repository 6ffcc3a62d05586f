FROM busybox
ARG
