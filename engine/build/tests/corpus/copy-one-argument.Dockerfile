FROM busybox
COPY x
