module wirespan.test/httpd

go 1.17
