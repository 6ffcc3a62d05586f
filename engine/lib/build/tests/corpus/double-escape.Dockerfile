# escape=`
# escape=`
FROM busybox
