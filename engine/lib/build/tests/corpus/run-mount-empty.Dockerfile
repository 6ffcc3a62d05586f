FROM busybox
RUN --mount= echo
