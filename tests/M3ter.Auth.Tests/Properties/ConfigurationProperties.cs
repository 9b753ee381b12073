using System;
using System.Collections.Generic;
using System.Globalization;
using System.Linq;
using CsCheck;
using M3ter.Auth.Fuzz;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>
/// Every option read from configuration as a string, any string: the registration either works (a token is fetched
/// with it) or fails with <see cref="OptionsValidationException"/> naming each setting that is wrong, without the
/// secret or the token in the message. Never another exception type, from the options, the token client's pipeline or
/// the first request.
/// </summary>
public sealed class ConfigurationProperties(ITestOutputHelper output)
{
    private static readonly string[] Keys =
    [
        "AccessKeyId", "ApiSecret", "OrganizationId", "AccessToken", "WarmUpOnStart", "BaseAddress", "IngestBaseAddress",
        "RefreshBeforeExpiry", "TokenRequestTimeout", "RetryDelay", "RejectedCredentialsCacheDuration", "MaxRetryAttempts",
    ];

    private static readonly Gen<string> Values = Gen.OneOf(
        Gen.String,
        Gen.Long.Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Gen.Int[-5, 20].Select(v => v.ToString(CultureInfo.InvariantCulture)),
        Gen.Double.Select(v => v.ToString("R", CultureInfo.InvariantCulture)),
        Gen.TimeSpan.Select(v => v.ToString("c", CultureInfo.InvariantCulture)),
        Gen.Long[-TimeSpan.TicksPerSecond, TimeSpan.TicksPerDay * 2].Select(t => TimeSpan.FromTicks(t).ToString("c", CultureInfo.InvariantCulture)),
        Gen.OneOf(
            "00:00:00", "-00:00:01", "00:00:00.0099999", "00:00:00.01", "1.00:00:00", "1.00:00:00.0000001", "00:01:00.0000001",
            "10675199.02:48:05.4775807", "-10675199.02:48:05.4775808", "24:00:00", "5", "1e3", "NaN", "0x10", " 3 ", "٣",
            "https://api.m3ter.com/", "http://127.0.0.1:1/", "http://example.com/", "https://x/?q", "https://x/#f", "ftp://x/",
            "https://api.m3ter.com/v1", "//x", "https://[::1]:5/", "https://user:pass@api.m3ter.com/", "http://[::1]/", "https://",
            "true", "false", "True", "yes", "1", "", " ", "\t", "\u00a0", "eyJ.a.b", "töken", "a b", "abc==", "a\r\nb", "\0"));

    // A secret's value carries a marker no message has of its own: a value such as "00:00:00" given as the secret
    // also appears, rightly, in the message about a bad time span, which says nothing about the secret.
    private const string SecretMarker = "zq7secret";

    private static readonly Gen<Dictionary<string, string>> Settings =
        Gen.Select(Gen.OneOf(Keys), Values).Array[1, 4].Select(pairs => pairs
            .GroupBy(p => p.Item1)
            .ToDictionary(g => g.Key, g => g.Key is "ApiSecret" or "AccessToken" ? SecretMarker + g.Last().Item2 : g.Last().Item2));

    [Fact]
    public void AnyStringForAnyOption_IsAValidValueOrATypedErrorNamingIt() =>
        Settings.Run(settings =>
        {
            var values = new Dictionary<string, string?> { ["M3ter:AccessKeyId"] = "property-key", ["M3ter:ApiSecret"] = "property-secret-0123456789" };
            foreach ((string key, string value) in settings)
            {
                values["M3ter:" + key] = value;
            }

            var services = new ServiceCollection();
            services.AddSingleton<IConfiguration>(new ConfigurationBuilder().AddInMemoryCollection(values).Build());
            services.AddM3terAuth();
            services.AddHttpClient(TokenClient.HttpClientName).ConfigurePrimaryHttpMessageHandler(ValidToken);
            using ServiceProvider provider = services.BuildServiceProvider();
            try
            {
                _ = provider.GetRequiredService<IOptionsMonitor<M3terAuthOptions>>().CurrentValue;
                M3terToken token = provider.GetRequiredService<ITokenProvider>().GetTokenAsync().AsTask().GetAwaiter().GetResult();
                Assert.False(string.IsNullOrEmpty(token.AccessToken));
            }
            catch (OptionsValidationException ex)
            {
                Assert.NotEmpty(ex.Failures);
                foreach (string failure in ex.Failures)
                {
                    Assert.True(Keys.Any(k => failure.Contains("M3ter:" + k, StringComparison.Ordinal)), $"'{failure}' names no setting");
                }

                Assert.DoesNotContain(SecretMarker, ex.Message, StringComparison.Ordinal);
                Assert.DoesNotContain(values["M3ter:ApiSecret"]!, ex.Message, StringComparison.Ordinal);
            }
        }, output, PropertyRuns.Some, s => string.Join(", ", s.Select(p => $"{p.Key}={Escape(p.Value)}")));

    private static FixedAnswer ValidToken() =>
        new(System.Net.HttpStatusCode.OK, "application/json", "{\"access_token\":\"property-token\",\"token_type\":\"Bearer\",\"expires_in\":3600}"u8.ToArray());

    private static string Escape(string value) =>
        "\"" + string.Concat(value.Select(c => c is >= ' ' and <= '~' ? c.ToString() : $"\\u{(int)c:x4}")) + "\"";
}
