namespace SharpSeek.Data.Tasks;

/// <summary>
/// Character-level string tasks that sub-word tokenizers make hard ("how many r in strawberry"). Levels:
/// 1 = count a letter in a common word, 2 = count a letter in a random 6–10 letter string, 3 = reverse a common word,
/// 4 = reverse a random 6–10 letter string. The completion spells the word out letter by letter, then <c>#### 3</c> or
/// <c>#### olleh</c>; answers are lower-case ASCII words or counts.
/// </summary>
public sealed class LetterTaskGenerator : ITaskGenerator
{
    public string Name => "letters";
    public int Levels => 4;

    /// <summary>Common English words used at levels 1 and 3.</summary>
    internal static readonly string[] Words =
    [
        "apple", "banana", "strawberry", "cherry", "orange", "lemon", "grape", "melon", "peach", "pepper",
        "letter", "bottle", "coffee", "paper", "pillow", "mirror", "rabbit", "kitten", "puppy", "balloon",
        "garden", "window", "yellow", "purple", "summer", "winter", "river", "mountain", "forest", "island",
        "bridge", "castle", "dragon", "wizard", "rocket", "planet", "school", "teacher", "student", "pencil",
        "butter", "cookie", "dinner", "kettle", "hammer", "ladder", "tomato", "potato", "carrot", "onion",
        "mississippi", "parallel", "committee", "assessment", "bookkeeper", "occurrence", "necessary", "success", "address", "llama",
        "animal", "basket", "candle", "doctor", "engine", "farmer", "guitar", "helmet", "jacket", "lizard",
        "market", "needle", "office", "parrot", "quartz", "rubber", "saddle", "ticket", "umbrella", "violin",
        "wallet", "zipper", "anchor", "beetle", "cactus", "desert", "falcon", "giraffe", "harbor", "insect",
        "jungle", "kitchen", "lantern", "magnet", "napkin", "oyster", "pebble", "puzzle", "rainbow", "spider",
        "thunder", "tunnel", "valley", "walnut", "blanket", "cabbage", "dolphin", "feather", "glitter", "hollow",
        "library", "morning", "noodle", "pretzel", "squirrel", "tractor", "village", "whisper", "giggle", "coconut",
    ];

    public TaskExample Generate(SplitMix64 rng, int level)
    {
        TaskGenerators.CheckLevel(this, level);
        string word = level is 1 or 3 ? Words[rng.NextLong(Words.Length)] : RandomWord(rng);
        return level <= 2 ? Count(word, PickLetter(rng, word)) : Reverse(word);
    }

    /// <summary>A random 6–10 letter string over a 6-letter alphabet drawn per word, so letters repeat.</summary>
    private static string RandomWord(SplitMix64 rng)
    {
        var alphabet = new char[6];
        for (int i = 0; i < alphabet.Length; i++) alphabet[i] = (char)('a' + rng.NextLong(26));
        var chars = new char[TaskGenerators.Range(rng, 6, 10)];
        for (int i = 0; i < chars.Length; i++) chars[i] = alphabet[rng.NextLong(alphabet.Length)];
        return new string(chars);
    }

    /// <summary>A letter of the word three times in four, otherwise any letter (so a count of 0 occurs).</summary>
    private static char PickLetter(SplitMix64 rng, string word) =>
        rng.NextLong(4) < 3 ? word[(int)rng.NextLong(word.Length)] : (char)('a' + rng.NextLong(26));

    internal static TaskExample Count(string word, char letter)
    {
        var positions = Enumerable.Range(0, word.Length).Where(i => word[i] == letter).Select(i => i + 1).ToList();
        string found = positions.Count == 0
            ? $"The letter {letter} does not appear."
            : $"The letter {letter} is at position{(positions.Count > 1 ? "s" : "")} {string.Join(", ", positions)}.";
        string answer = positions.Count.ToString();
        return new($"How many times does the letter \"{letter}\" appear in \"{word}\"?", answer,
            $"Spell it: {Spelled(word)}.\n{found}\nThat is {answer}.\n{TaskGenerators.FinalLine(answer)}");
    }

    internal static TaskExample Reverse(string word)
    {
        string answer = new(word.Reverse().ToArray());
        return new($"Write the word \"{word}\" backwards.", answer,
            $"Spell it: {Spelled(word)}.\nBackwards: {Spelled(answer)}.\nTogether: {answer}.\n{TaskGenerators.FinalLine(answer)}");
    }

    private static string Spelled(string word) => string.Join(", ", word.ToCharArray());
}
