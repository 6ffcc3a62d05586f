FROM busybox
COPY -- Dockerfile /x
