FROM busybox
COPY --chown="1:1" Dockerfile /x
