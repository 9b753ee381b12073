// Matches takes a shortcut (the address as written starts with the host's canonical prefix); it must agree with the
// exact scheme/host/port comparison for every form, including those HttpClient builds with new Uri(base, relative).
using System;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class HostScopeTests
{
    private const string Prod = "https://api.m3ter.com/";
    private const string Emulator = "http://127.0.0.1:5000/";

    [Theory]
    [InlineData(Prod, null, "https://api.m3ter.com/organizations/org-1")]
    [InlineData(Prod, null, "https://api.m3ter.com/@evil.example/")]
    [InlineData(Prod, null, "https://api.m3ter.com/\\evil.example/")]
    [InlineData(Prod, null, "https://api.m3ter.com/%2F%2Fevil.example/")]
    [InlineData(Prod, null, "https://api.m3ter.com@evil.example/")]
    [InlineData(Prod, null, "https://api.m3ter.com:443@evil.example/")]
    [InlineData(Prod, null, "https://api.m3ter.com./")]
    [InlineData(Prod, null, "https://api.m3ter.comm/")]
    [InlineData(Prod, null, "https://api.m3ter.com:8443/")]
    [InlineData(Prod, null, "  https://api.m3ter.com/x  ")]
    [InlineData(Prod, null, "https://ingest.m3ter.com/organizations/org-1/measurements")]
    [InlineData(Prod, Prod, "//evil.example/x")]
    [InlineData(Prod, Prod, "\\\\evil.example\\x")]
    [InlineData(Prod, Prod, "https:evil.example/x")]
    [InlineData(Prod, Prod, "organizations/org-1")]
    [InlineData(Prod, "https://evil.example/", "https://api.m3ter.com/x")]
    [InlineData(Prod, "https://evil.example/", "//api.m3ter.com/x")]
    [InlineData(Emulator, null, "http://127.0.0.1:5000/x")]
    [InlineData(Emulator, null, "http://127.0.0.1:50000/x")]
    [InlineData(Emulator, null, "http://127.0.0.1:5000@evil.example/x")]
    [InlineData(Emulator, null, "http://127.0.0.1:80/x")]
    [InlineData(Emulator, Emulator, "//evil.example:5000/x")]
    public void Matches_IsExactlyTheSchemeHostPortComparison(string baseAddress, string? requestBase, string requestUri)
    {
        M3terAuthOptions options = TestOptions.Create(o => o.BaseAddress = new Uri(baseAddress));
        var scope = new HostScope(options);
        Uri request = requestBase is null ? new Uri(requestUri) : new Uri(new Uri(requestBase), requestUri);
        Uri api = options.BaseAddress;
        Uri ingest = options.IngestBaseAddress;
        bool exact =
            (request.Scheme == api.Scheme && request.Host == api.Host && request.Port == api.Port)
            || (request.Scheme == ingest.Scheme && request.Host == ingest.Host && request.Port == ingest.Port);

        Assert.Equal(exact, scope.Matches(request));
    }
}

// What the mutation run (docs/quality.md) found untested: an address that is not absolute, or none, is never in scope,
// and asking about it does not throw (a relative Uri has no port to read).
public sealed class HostScopeEdgeTests
{
    [Theory]
    [InlineData("organizations/org-1")]
    [InlineData("/organizations/org-1")]
    [InlineData("//api.m3ter.com/x")]
    public void ARelativeAddress_IsNotInScope(string relative)
    {
        var scope = new HostScope(TestOptions.Create());

        Assert.False(scope.Matches(new Uri(relative, UriKind.Relative)));
    }

    [Fact]
    public void NoAddress_IsNotInScope() => Assert.False(new HostScope(TestOptions.Create()).Matches(null));
}
