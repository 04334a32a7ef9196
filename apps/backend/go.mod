module webbench.lab/backend

go 1.24
