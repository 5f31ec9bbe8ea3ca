import adpo_rl


def test_version_is_exported():
    assert isinstance(adpo_rl.__version__, str)
    assert adpo_rl.__version__.count(".") == 2
