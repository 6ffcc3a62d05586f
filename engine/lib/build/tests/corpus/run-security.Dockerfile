FROM busybox
RUN --security=insecure echo
