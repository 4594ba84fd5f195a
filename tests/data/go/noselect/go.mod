module wirespan.test/noselect

go 1.17
