using System.Collections.Generic;
using M3ter.Auth.Fuzz;

namespace M3ter.Auth.Tests;

/// <summary>The fuzzer's seed corpus and every input it found (tests/Fuzz/regressions), through the same targets.</summary>
public sealed class FuzzRegressionTests
{
    public static IEnumerable<object[]> TokenResponses() => FuzzInputs.Of("token-response");

    public static IEnumerable<object[]> JwtExpiries() => FuzzInputs.Of("jwt-exp");

    [Theory]
    [MemberData(nameof(TokenResponses))]
    public void TokenResponse_IsATokenOrAnM3terAuthException(string file) => AuthTargets.TokenResponse(FuzzInputs.Read(file));

    [Theory]
    [MemberData(nameof(JwtExpiries))]
    public void JwtExpiry_NeverThrows(string file) => AuthTargets.JwtExpiry(FuzzInputs.Read(file));
}
