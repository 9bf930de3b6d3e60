"""Landing, intake, the contract, cleaning, expectations, the warehouse, feature tables, profiles."""
