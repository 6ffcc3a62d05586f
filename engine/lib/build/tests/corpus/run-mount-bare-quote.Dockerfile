FROM busybox
RUN --mount=a\"b echo
