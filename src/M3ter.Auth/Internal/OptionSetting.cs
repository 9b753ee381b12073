using System;
using System.Collections.Generic;
using System.Globalization;

namespace M3ter.Auth.Internal;

/// <summary>What a reload that changes an option does to the cached token: a rule each option declares (see <see cref="OptionSettings"/>).</summary>
internal enum ReloadEffect
{
    /// <summary>The token stays in use: the option is not about the token (organization, warm-up, retries, refresh timing).</summary>
    KeepsToken,

    /// <summary>The token came from these credentials: it is served until the new ones have produced one, which is requested at once.</summary>
    RenewsToken,

    /// <summary>The token belongs to this server, these hosts or this pre-issued token: it is dropped, and the next request fetches one.</summary>
    DropsToken,
}

/// <summary>The token settings <see cref="M3terAuthOptions"/> and <see cref="M3terTenantOptions"/> share, so that they are declared, read, copied and checked once.</summary>
internal interface ITokenSettings
{
    TimeSpan RefreshBeforeExpiry { get; set; }

    TimeSpan TokenRequestTimeout { get; set; }

    int MaxRetryAttempts { get; set; }

    TimeSpan RetryDelay { get; set; }

    TimeSpan RejectedCredentialsCacheDuration { get; set; }
}

/// <summary>
/// One option of <typeparamref name="TOptions"/>: its name (which is its configuration key), how configuration text
/// becomes its value, how two values compare, and what a change of it does to the cached token on a reload.
/// </summary>
/// <typeparam name="TOptions">The options type; a setting of <see cref="ITokenSettings"/> serves both options types.</typeparam>
internal interface IOptionSetting<in TOptions>
{
    /// <summary>Gets the property's name, which is also its configuration key.</summary>
    string Name { get; }

    /// <summary>Gets what a reload that changes this option does to the cached token.</summary>
    ReloadEffect OnChange { get; }

    /// <summary>Gets configuration text for a valid value other than the default (for the tests that prove <see cref="OnChange"/>).</summary>
    string Example { get; }

    /// <summary>Sets the option from configuration <paramref name="text"/>, or reports why it cannot under the option's name, worded with <paramref name="key"/> (where the text came from).</summary>
    void Read(TOptions options, string text, string key, Action<string, string> error);

    /// <summary>Whether <paramref name="a"/> and <paramref name="b"/> have the same value of this option.</summary>
    bool Same(TOptions a, TOptions b);

    /// <summary>Gives <paramref name="to"/> the value of this option that <paramref name="from"/> has.</summary>
    void Copy(TOptions from, TOptions to);
}

/// <summary>How each kind of option is read from configuration text, and the message when it cannot be.</summary>
internal static class OptionSetting
{
    public static IOptionSetting<T> Text<T>(string name, ReloadEffect onChange, string example, Func<T, string?> get, Action<T, string?> set) =>
        new Setting<T, string?>(name, onChange, example, get, set, static (string text, string _, out string? value) =>
        {
            value = text;
            return null;
        }, StringComparer.Ordinal);

    public static IOptionSetting<T> Flag<T>(string name, ReloadEffect onChange, string example, Func<T, bool> get, Action<T, bool> set) =>
        new Setting<T, bool>(name, onChange, example, get, set, static (string text, string key, out bool value) =>
            bool.TryParse(text, out value) ? null : $"{key} must be true or false, but it is '{text}'.", EqualityComparer<bool>.Default);

    public static IOptionSetting<T> Address<T>(string name, ReloadEffect onChange, string example, Func<T, Uri> get, Action<T, Uri> set) =>
        new Setting<T, Uri>(name, onChange, example, get, set, (string text, string key, out Uri value) =>
        {
            if (Uri.TryCreate(text, UriKind.Absolute, out Uri? uri) && (uri.Scheme == Uri.UriSchemeHttp || uri.Scheme == Uri.UriSchemeHttps))
            {
                value = uri;
                return null;
            }

            value = null!;
            return $"{key} must be an absolute http(s) URI such as {DefaultFor(name)}, but it is '{text}'.";
        }, EqualityComparer<Uri>.Default);

    public static IOptionSetting<T> Duration<T>(string name, ReloadEffect onChange, string example, Func<T, TimeSpan> get, Action<T, TimeSpan> set) =>
        new Setting<T, TimeSpan>(name, onChange, example, get, set, static (string text, string key, out TimeSpan value) =>
            TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out value) ? null : $"{key} must be a time span such as 00:05:00, but it is '{text}'.", EqualityComparer<TimeSpan>.Default);

    public static IOptionSetting<T> Count<T>(string name, ReloadEffect onChange, string example, Func<T, int> get, Action<T, int> set) =>
        new Setting<T, int>(name, onChange, example, get, set, static (string text, string key, out int value) =>
            int.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value) ? null : $"{key} must be a whole number, but it is '{text}'.", EqualityComparer<int>.Default);

    /// <summary>The address shown as an example in a message about a bad one: m3ter's own.</summary>
    private static string DefaultFor(string name) =>
        name == nameof(M3terAuthOptions.IngestBaseAddress) ? "https://ingest.m3ter.com/" : "https://api.m3ter.com/";

    /// <summary>Parses <paramref name="text"/>; returns null when it is a value, else the message saying why not.</summary>
    private delegate string? Parse<TValue>(string text, string key, out TValue value);

    private sealed class Setting<T, TValue>(string name, ReloadEffect onChange, string example, Func<T, TValue> get, Action<T, TValue> set, Parse<TValue> parse, IEqualityComparer<TValue> comparer) : IOptionSetting<T>
    {
        public string Name => name;

        public ReloadEffect OnChange => onChange;

        public string Example => example;

        public void Read(T options, string text, string key, Action<string, string> error)
        {
            if (parse(text, key, out TValue value) is string message)
            {
                error(name, message);
            }
            else
            {
                set(options, value);
            }
        }

        public bool Same(T a, T b) => comparer.Equals(get(a), get(b));

        public void Copy(T from, T to) => set(to, get(from));
    }
}
