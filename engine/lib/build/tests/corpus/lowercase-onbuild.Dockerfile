FROM busybox
ONBUILD   run  echo hi
