FROM busybox
ADD --chmod=755 Dockerfile /x
