print("scalpel")
