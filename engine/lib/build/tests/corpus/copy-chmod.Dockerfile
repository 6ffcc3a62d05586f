FROM busybox
COPY --chmod=755 Dockerfile /x
