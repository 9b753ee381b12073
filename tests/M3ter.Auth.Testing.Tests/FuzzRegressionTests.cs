using System.Collections.Generic;
using M3ter.Auth.Fuzz;

namespace M3ter.Auth.Testing.Tests;

/// <summary>The fuzzer's seed corpus and every input it found (tests/Fuzz/regressions), through the same target.</summary>
public sealed class FuzzRegressionTests
{
    public static IEnumerable<object[]> Inputs() => FuzzInputs.Of("ingest-body");

    [Theory]
    [MemberData(nameof(Inputs))]
    public void IngestBody_NeverThrows(string file) => EmulatorTargets.IngestBody(FuzzInputs.Read(file));
}
