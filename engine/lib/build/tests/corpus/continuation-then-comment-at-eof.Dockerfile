FROM busybox
RUN echo a \
#x
