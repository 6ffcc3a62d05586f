# hello
# escape=`
FROM busybox
RUN echo a\\
