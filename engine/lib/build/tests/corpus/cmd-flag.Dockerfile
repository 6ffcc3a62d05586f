FROM busybox
CMD --x=1 a
