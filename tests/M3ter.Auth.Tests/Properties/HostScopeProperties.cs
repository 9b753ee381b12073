using System;
using CsCheck;
using M3ter.Auth.Internal;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>
/// The handler's host check (a fast prefix test, then the parsed parts) agrees with the exact scheme, host and port
/// comparison for generated addresses: user info, case, explicit and default ports, trailing dots, IDN, percent-
/// encoding, backslashes, and relative references resolved against a client's base address.
/// </summary>
public sealed class HostScopeProperties(ITestOutputHelper output)
{
    private static readonly string[] BaseAddresses = ["https://api.m3ter.com/", "http://127.0.0.1:5000/", "https://API.M3ter.com:443/", "https://api.m3ter.com/v1/", "http://localhost:8080/m3ter/"];

    private static readonly Gen<string> Scheme = Gen.OneOf("https", "http", "HTTPS", "Http", "hTTps");

    private static readonly Gen<string> UserInfo = Gen.OneOf("", "", "", "user@", "u:p@", "api.m3ter.com@", "127.0.0.1:5000@", "%40@");

    private static readonly Gen<string> Host = Gen.OneOf(
        "api.m3ter.com", "API.M3TER.COM", "Api.M3ter.Com", "ingest.m3ter.com", "INGEST.m3ter.com", "api.m3ter.com.", "api.m3ter.comm",
        "evil.example", "api.m3ter.com.evil.example", "xn--pi-wka.m3ter.com", "äpi.m3ter.com", "api.m3ter.com%2eevil.example",
        "127.0.0.1", "127.000.000.001", "0x7f.0.0.1", "[::1]", "[::ffff:127.0.0.1]", "localhost", "LOCALHOST", "ingest.localhost");

    private static readonly Gen<string> Port = Gen.OneOf(Gen.OneOf("", "", ":443", ":80", ":5000", ":8080", ":0443", ":08080", ":65535"), Gen.Int[0, 65535].Select(p => ":" + p));

    private static readonly Gen<string> Path = Gen.OneOf(
        "/", "", "/organizations/org-1", "/%2F%2Fevil.example/", "/\\evil.example", "/a b", "/%41pi", "/..%2F..", "/@evil.example", "?x=1", "#frag", "/x?y#z");

    private static readonly Gen<string> Absolute = Gen.Select(Scheme, UserInfo, Host, Port, Path, (s, u, h, p, rest) => $"{s}://{u}{h}{p}{rest}");

    private static readonly Gen<string> Relative = Gen.OneOf(
        Gen.OneOf("organizations/org-1", "/organizations", "//evil.example/x", "\\\\evil.example\\x", "https:evil.example/x", "//api.m3ter.com/x", "?q", "../../x", "%2F%2Fevil.example"),
        Gen.Select(Host, Port, Path, (h, p, rest) => $"//{h}{p}{rest}"));

    [Fact]
    public void Matches_IsExactlyTheSchemeHostPortComparison_ForAbsoluteAddresses() =>
        Gen.Select(Gen.OneOf(BaseAddresses), Absolute).Run(input => Check(input.Item1, null, input.Item2), output, PropertyRuns.Many, i => $"base {i.Item1}, request {i.Item2}");

    [Fact]
    public void Matches_IsExactlyTheSchemeHostPortComparison_ForRelativeReferences() =>
        Gen.Select(Gen.OneOf(BaseAddresses), Gen.OneOf(Gen.OneOf(BaseAddresses), Absolute), Relative)
            .Run(input => Check(input.Item1, input.Item2, input.Item3), output, PropertyRuns.Many, i => $"base {i.Item1}, client base {i.Item2}, relative {i.Item3}");

    private static void Check(string baseAddress, string? clientBase, string request)
    {
        M3terAuthOptions options = TestOptions.Create(o => o.BaseAddress = new Uri(baseAddress));
        Uri? uri = clientBase is null
            ? Uri.TryCreate(request, UriKind.Absolute, out Uri? absolute) ? absolute : null
            : Uri.TryCreate(clientBase, UriKind.Absolute, out Uri? root) && Uri.TryCreate(root, request, out Uri? combined) ? combined : null;
        if (uri is null)
        {
            return; // not an address HttpClient could send
        }

        Uri api = options.BaseAddress;
        Uri ingest = options.IngestBaseAddress;
        bool exact = uri.IsAbsoluteUri
            && ((uri.Scheme == api.Scheme && uri.Host == api.Host && uri.Port == api.Port)
                || (uri.Scheme == ingest.Scheme && uri.Host == ingest.Host && uri.Port == ingest.Port));

        Assert.True(exact == new HostScope(options).Matches(uri), $"{uri.OriginalString} (host '{uri.Host}', port {uri.Port}): exact comparison {exact}, handler {!exact}");
    }
}
