FROM busybox
USER 'b
