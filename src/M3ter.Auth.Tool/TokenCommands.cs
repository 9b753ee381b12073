using System;
using System.Diagnostics;
using System.Globalization;
using System.IO;
using System.Net.Http;
using System.Text;
using System.Text.Json;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Polly.Timeout;

namespace M3ter.Auth.Tool;

/// <summary><c>m3ter-auth token</c> and <c>m3ter-auth check</c>: the library's own token path, from a command line.</summary>
internal static class TokenCommands
{
    /// <summary>Prints the token (or the whole <c>Authorization:</c> line) and nothing else on stdout.</summary>
    public static Task<int> TokenAsync(ToolArguments arguments, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken) =>
        RunAsync(arguments, stderr, checkOnly: false, (token, _, _) =>
        {
            stdout.Write(arguments.Header ? "Authorization: Bearer " + token.AccessToken : token.AccessToken);
            stdout.Write('\n');
        }, cancellationToken);

    /// <summary>Asks for a token and prints what it learned, never the token itself.</summary>
    public static Task<int> CheckAsync(ToolArguments arguments, TextWriter stdout, TextWriter stderr, CancellationToken cancellationToken) =>
        RunAsync(arguments, stderr, checkOnly: true, (token, options, elapsed) =>
        {
            var report = new StringBuilder()
                .AppendLine("m3ter accepted the credentials.")
                .Append("  token endpoint: ").Append(options.BaseAddress).AppendLine("oauth/token")
                .Append("  access key id:  ").AppendLine(options.AccessToken is null ? options.AccessKeyId : "(none: a pre-issued token, M3TER_API_TOKEN)")
                .Append("  organization:   ").AppendLine(DescribeOrganization(token.AccessToken, options.OrganizationId))
                .Append("  token type:     ").AppendLine(token.TokenType)
                .Append("  expires at:     ").Append(token.ExpiresAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture))
                .Append(" (in ").Append(Describe(token.ExpiresAt - DateTimeOffset.UtcNow)).AppendLine(")")
                .Append("  latency:        ").Append(Math.Round(elapsed.TotalMilliseconds).ToString(CultureInfo.InvariantCulture)).AppendLine(" ms");
            stdout.Write(report.ToString());
        }, cancellationToken);

    private static async Task<int> RunAsync(ToolArguments arguments, TextWriter stderr, bool checkOnly, Action<M3terToken, M3terAuthOptions, TimeSpan> report, CancellationToken cancellationToken)
    {
        var services = new ServiceCollection();
        services.AddM3terAuth(arguments.ApplyTo);
        await using ServiceProvider provider = services.BuildServiceProvider();
        M3terAuthOptions? options = null;
        try
        {
            options = provider.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue;
            if (checkOnly && options.AccessToken is not null)
            {
                // Nothing checks a pre-issued token but a call that uses it: "accepted" would be a guess.
                return Fail(stderr, ExitCodes.BadConfiguration, "bad configuration: check verifies an access key and secret at m3ter's token endpoint, but the credentials are a pre-issued token (M3TER_API_TOKEN), which the token endpoint never sees. Print it with 'm3ter-auth token', or give --key and --secret (or unset M3TER_API_TOKEN) to check credentials.");
            }

            ITokenProvider tokens = provider.GetRequiredService<ITokenProvider>();
            long started = Stopwatch.GetTimestamp();
            M3terToken token = await tokens.GetTokenAsync(cancellationToken).ConfigureAwait(false);
            report(token, options, Stopwatch.GetElapsedTime(started));
            return ExitCodes.Ok;
        }
        catch (OptionsValidationException ex)
        {
            return Fail(stderr, ExitCodes.BadConfiguration, "bad configuration: " + ex.Message);
        }
        catch (M3terAuthException ex) when (ex.IsCredentialRejection)
        {
            return Fail(stderr, ExitCodes.CredentialsRefused, "credentials refused: " + ex.Message);
        }
        catch (M3terAuthException ex) when (ex.StatusCode is null && ex.InnerException is HttpRequestException or IOException or TimeoutRejectedException or OperationCanceledException or TimeoutException)
        {
            return Fail(stderr, ExitCodes.Unreachable, "token endpoint unreachable: " + ex.Message);
        }
        catch (M3terAuthException ex) when (ex.StatusCode is null && ex.InnerException is null && options?.AccessToken is not null)
        {
            return Fail(stderr, ExitCodes.CredentialsRefused, "pre-issued token unusable: " + ex.Message);
        }
        catch (M3terAuthException ex)
        {
            return Fail(stderr, ExitCodes.EndpointFailed, "token endpoint failed: " + ex.Message);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return Fail(stderr, ExitCodes.Cancelled, "cancelled.");
        }
    }

    internal static int Fail(TextWriter stderr, int exitCode, string message)
    {
        stderr.WriteLine("m3ter-auth: " + message);
        return exitCode;
    }

    /// <summary>
    /// What the token says about the organization. m3ter's tokens are JWTs; their claims are read (not validated, and
    /// nothing else of the token is shown). A claim whose name mentions "org" is the one reported.
    /// </summary>
    internal static string DescribeOrganization(string accessToken, string? configured)
    {
        string configuredPart = configured is null ? string.Empty : "; configured OrganizationId " + configured;
        string[] parts = accessToken.Split('.');
        if (parts.Length != 3)
        {
            return "unknown (the token is not a JWT, so it carries no claims)" + configuredPart;
        }

        try
        {
            string base64 = parts[1].Replace('-', '+').Replace('_', '/');
            byte[] json = Convert.FromBase64String(base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '='));
            using JsonDocument payload = JsonDocument.Parse(json);
            if (payload.RootElement.ValueKind == JsonValueKind.Object)
            {
                foreach (JsonProperty claim in payload.RootElement.EnumerateObject())
                {
                    if (claim.Name.Contains("org", StringComparison.OrdinalIgnoreCase))
                    {
                        return $"{Printable(claim.Value.GetRawText().Trim('"'))} (claim \"{Printable(claim.Name)}\"){configuredPart}";
                    }
                }
            }

            return "unknown (the token has no organization claim)" + configuredPart;
        }
        catch (Exception ex) when (ex is FormatException or JsonException or InvalidOperationException or ArgumentException)
        {
            return "unknown (the token's claims are not readable JSON)" + configuredPart;
        }
    }

    // A claim is the server's text: printed as printable ASCII, at most 100 characters, so it cannot move the cursor.
    private static string Printable(string text)
    {
        var printable = new StringBuilder(Math.Min(text.Length, 100));
        foreach (char c in text)
        {
            if (printable.Length == 100)
            {
                return printable.Append('…').ToString();
            }

            printable.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return printable.ToString();
    }

    private static string Describe(TimeSpan left) =>
        left <= TimeSpan.Zero ? "already expired"
        : left.TotalHours >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)left.TotalHours} h {left.Minutes} min")
        : left.TotalMinutes >= 1 ? string.Create(CultureInfo.InvariantCulture, $"{(int)left.TotalMinutes} min {left.Seconds} s")
        : string.Create(CultureInfo.InvariantCulture, $"{left.Seconds} s");
}
