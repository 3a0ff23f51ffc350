SELECT :value AS value
