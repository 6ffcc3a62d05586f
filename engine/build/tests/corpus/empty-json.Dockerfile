FROM busybox
CMD []
ENTRYPOINT []
