"""random_state seeds a subclass's own modules too (the flaky pickling test's cause).

TwoModuleNet builds module2_ after super().initialize_module(), outside the seeded
construction of module_. It drew from torch's global generator, which torch seeds
differently in each process: module2_ started from other weights in each run, and in
some runs its L1 ("sum") loss made it jump back and forth between two points, so that
two more epochs returned it exactly to where it was.
"""

import pickle

import torch

from tests.test_params_callbacks_parity import Y2, X, two_module_net


def test_random_state_fixes_a_subclass_module_whatever_the_global_generator():
    torch.manual_seed(1)
    first = two_module_net().initialize()
    torch.manual_seed(2)
    second = two_module_net().initialize()
    torch.testing.assert_close(first.module2_.weight, second.module2_.weight)
    torch.testing.assert_close(first.module_.weight, second.module_.weight)


def test_extra_module_is_not_a_copy_of_the_main_one_and_globals_stay():
    torch.manual_seed(3)
    expected = torch.randn(3)
    torch.manual_seed(3)
    net = two_module_net().initialize()  # both nn.Linear(3, 1): different streams
    assert not torch.allclose(net.module_.weight, net.module2_.weight)
    torch.testing.assert_close(torch.randn(3), expected)  # the global generator is restored


def test_module_weights_are_unchanged_for_nets_without_extras():
    from sktorch import NeuralNetRegressor
    from sktorch._random import seeded

    net = NeuralNetRegressor(torch.nn.Linear, module__in_features=3, module__out_features=1,
                             random_state=0).initialize()
    seed = int(__import__("numpy").random.RandomState(0).randint(2**31 - 1))
    with seeded(seed):
        built = torch.nn.Linear(3, 1)
    torch.testing.assert_close(net.module_.weight, built.weight)


def test_pickled_net_steps_its_extra_optimizer_as_the_original_does():
    net = two_module_net(optimizer2__lr=0.1, max_epochs=1).fit(X, Y2)
    loaded = pickle.loads(pickle.dumps(net))
    before = loaded.module2_.weight.detach().clone()
    loaded.partial_fit(X, Y2)  # one step of optimizer2_, with a gradient that is not 0
    assert not torch.allclose(loaded.module2_.weight, before)
    net.partial_fit(X, Y2)
    torch.testing.assert_close(loaded.module2_.weight, net.module2_.weight)
