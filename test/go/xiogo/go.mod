module xiogo

go 1.19
