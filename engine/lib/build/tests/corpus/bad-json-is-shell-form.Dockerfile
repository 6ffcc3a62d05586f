FROM busybox
CMD ["a" 
