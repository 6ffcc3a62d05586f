FROM busybox
ONBUILD --x RUN a
