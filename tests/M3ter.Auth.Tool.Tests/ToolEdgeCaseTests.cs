using System;
using System.Collections.Generic;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Testing;

namespace M3ter.Auth.Tool.Tests;

/// <summary>Adversarial review of m3ter-auth: each test states the behaviour a user should get, and fails today.</summary>
public sealed class ToolEdgeCaseTests : IAsyncLifetime
{
    private const string Secret = "wrong-secret-value-3f9a";
    private M3terEmulator _m3ter = null!;

    public async Task InitializeAsync() => _m3ter = await M3terEmulator.StartAsync(new M3terEmulatorOptions { RateLimitPerSecond = null });

    public async Task DisposeAsync() => await _m3ter.DisposeAsync();

    private Dictionary<string, string> Environment() => new(_m3ter.EnvironmentVariables) { ["M3TER_API_SECRET"] = _m3ter.ApiSecret };

    private static int ClosedPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    // Finding 1: `check` with a pre-issued token reports "m3ter accepted the credentials" without asking m3ter anything.
    // `m3ter-auth check && echo "credentials work"` (the README's own example) says a garbage token works.
    [Fact]
    public async Task Check_WithAPreIssuedToken_NeverClaimsM3terAcceptedIt_WithoutAskingM3ter()
    {
        var environment = new Dictionary<string, string>
        {
            ["M3TER_API_TOKEN"] = "not-a-token-m3ter-ever-issued",
            ["M3TER_BASE_URL"] = $"http://127.0.0.1:{ClosedPort()}/", // nothing listens: nobody can have accepted anything
        };

        ToolRun run = await ToolRun.RunAsync(environment, "check", "--retries", "0");

        Assert.DoesNotContain("m3ter accepted the credentials", run.StandardOutput, StringComparison.Ordinal);
        Assert.True(run.ExitCode != 0, run.ToString());
    }

    // Finding 2: "a flag wins over its variable" (--help), but --key/--secret are ignored when M3TER_API_TOKEN is in the
    // environment: the stale pre-issued token is printed and the credentials given on the command line are never used.
    [Fact]
    public async Task KeyAndSecretFlags_WinOverAPreIssuedTokenInTheEnvironment()
    {
        var environment = new Dictionary<string, string>
        {
            ["M3TER_API_TOKEN"] = "stale-pre-issued-token",
            ["M3TER_BASE_URL"] = _m3ter.BaseAddress.ToString(),
        };

        ToolRun run = await ToolRun.RunAsync(environment, "token", "--key", _m3ter.AccessKeyId, "--secret", _m3ter.ApiSecret);

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.DoesNotContain("stale-pre-issued-token", run.StandardOutput, StringComparison.Ordinal);
        Assert.Equal(1, _m3ter.TokenRequestCount);
        Assert.Equal(Assert.Single(_m3ter.IssuedTokens) + "\n", run.StandardOutput);
    }

    // Finding 3: the argument parser echoes the offending argument whole, so a secret typed as --secret=VALUE (GNU style)
    // or left without its flag lands on stderr (CI logs), contrary to ToolArguments.Parse's "never its value when it is a secret".
    [Theory]
    [InlineData("token", "--secret=" + Secret)]
    [InlineData("check", "--key", "k", Secret)]
    [InlineData("emulator", "--nope=" + Secret)]
    [InlineData("emulator", "--key", "k", Secret)]
    [InlineData("token", "--" + Secret)]
    public async Task ASecretOnTheCommandLine_IsNeverEchoed_EvenWhenTheArgumentIsWrong(params string[] args)
    {
        ToolRun run = await ToolRun.RunAsync(null, args);

        Assert.Equal(2, run.ExitCode);
        Assert.DoesNotContain(Secret, run.StandardOutput + run.StandardError, StringComparison.Ordinal);
    }

    // Finding 4: `check` reads the JWT's claim names with JsonProperty.Name, which throws InvalidOperationException (not
    // caught: only FormatException and JsonException are) for a name with a lone surrogate escape or a bad UTF-8 byte.
    // The tool dies with an unhandled exception (exit 134, SIGABRT, stack trace) after m3ter accepted the credentials.
    [Theory]
    [InlineData("{\"sub\":\"svc\",\"\\ud800org\":\"acme\"}")]
    [InlineData("{\"\\udc00\":1,\"m3ter_org_id\":\"acme\"}")]
    [InlineData("{\"org\u00e9\":\"acme\"}", true)]
    public async Task Check_OfAJwtWithAnUnreadableClaimName_ReportsTheOrganizationAsUnknown_InsteadOfCrashing(string payloadJson, bool breakUtf8 = false)
    {
        byte[] payload = Encoding.UTF8.GetBytes(payloadJson);
        if (breakUtf8)
        {
            payload[Array.IndexOf(payload, (byte)0xA9)] = 0x28; // "é" (C3 A9) becomes the invalid pair C3 28
        }

        string jwt = "eyJhbGciOiJub25lIn0." + Convert.ToBase64String(payload).TrimEnd('=').Replace('+', '-').Replace('/', '_') + ".c2ln";
        _m3ter.EnqueueTokenFault(M3terFault.Ok($"{{\"access_token\":\"{jwt}\",\"token_type\":\"Bearer\",\"expires_in\":600}}"));

        ToolRun run = await ToolRun.RunAsync(Environment(), "check");

        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Contains("m3ter accepted the credentials.", run.StandardOutput, StringComparison.Ordinal);
        Assert.Contains("organization:   unknown", run.StandardOutput, StringComparison.Ordinal);
        Assert.DoesNotContain("Unhandled exception", run.StandardError, StringComparison.Ordinal);
    }
    // Finding 5: the token request follows redirects, and HttpClient drops the Authorization header on every redirect
    // (even to the same host). A token endpoint that answers 307/308 (a moved API, a gateway) gets the Basic credentials
    // nowhere, the target answers 401, and m3ter-auth exits 3 "credentials refused ... Check AccessKeyId and ApiSecret"
    // for credentials that are valid and were never presented. A redirect is an endpoint failure (5), never a refusal.
    [Theory]
    [InlineData(307)]
    [InlineData(308)]
    public async Task ARedirectingTokenEndpoint_IsNeverReportedAsRefusedCredentials(int status)
    {
        using var redirector = new TcpListener(IPAddress.Loopback, 0);
        redirector.Start();
        int port = ((IPEndPoint)redirector.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        Task serving = RedirectAllAsync(redirector, status, new Uri(_m3ter.BaseAddress, "oauth/token"), stop.Token);
        Dictionary<string, string> environment = Environment(); // the emulator's own, valid, credentials
        environment["M3TER_BASE_URL"] = $"http://127.0.0.1:{port}/";

        ToolRun run = await ToolRun.RunAsync(environment, "token", "--retries", "0");
        stop.Cancel();
        redirector.Stop();
        await Task.WhenAny(serving);

        Assert.True(run.ExitCode != ExitCodeCredentialsRefused, run.ToString());
        Assert.DoesNotContain("credentials refused", run.StandardError, StringComparison.Ordinal);
    }

    private const int ExitCodeCredentialsRefused = 3;

    private static async Task RedirectAllAsync(TcpListener listener, int status, Uri location, CancellationToken cancellationToken)
    {
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                using TcpClient client = await listener.AcceptTcpClientAsync(cancellationToken);
                NetworkStream stream = client.GetStream();
                var request = new StringBuilder();
                var buffer = new byte[4096];
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    int read = await stream.ReadAsync(buffer, cancellationToken);
                    if (read == 0)
                    {
                        break;
                    }

                    request.Append(Encoding.ASCII.GetString(buffer, 0, read));
                }

                byte[] response = Encoding.ASCII.GetBytes($"HTTP/1.1 {status} Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                await stream.WriteAsync(response, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException or System.IO.IOException)
        {
        }
    }
}
