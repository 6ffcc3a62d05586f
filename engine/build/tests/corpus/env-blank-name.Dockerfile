FROM busybox
ENV =b
