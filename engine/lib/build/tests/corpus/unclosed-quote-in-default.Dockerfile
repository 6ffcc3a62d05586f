FROM busybox
WORKDIR ${b:-"x}
